// OpenSSL's libcrypto from Debian's libssl-dev, for SHA-256; Swift calls EVP directly.
#include <openssl/evp.h>

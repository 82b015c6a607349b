// libsqlite3 from Debian's libsqlite3-dev; Swift calls its API directly, so this holds no code.
#include <sqlite3.h>

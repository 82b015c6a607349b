// libhdf5 from Debian's libhdf5-dev. HDF5 spells its constants as macros that call H5open() and read a
// global (H5T_NATIVE_FLOAT, H5F_ACC_RDONLY, ...), which Swift cannot import; these one-line functions can.
#include <hdf5.h>

static inline hid_t xceptor_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline unsigned xceptor_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline hid_t xceptor_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t xceptor_h5s_all(void) { return H5S_ALL; }
static inline hid_t xceptor_h5e_default(void) { return H5E_DEFAULT; }
static inline unsigned xceptor_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline hid_t xceptor_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t xceptor_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t xceptor_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t xceptor_h5p_link_create(void) { return H5P_LINK_CREATE; }

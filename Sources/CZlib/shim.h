// zlib from the system (Debian: zlib1g-dev), for gzip-compressed console files.
#include <zlib.h>

// zlib, for the payloads of archive files (Debian: zlib1g-dev).
#include <zlib.h>

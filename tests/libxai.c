/* The library as one translation unit: make compiles it once into bin/libxai.a (and a sanitized
   copy into bin/sanitize/libxai.a) with the flags of the tests that link it. */
#define XAI_IMPLEMENTATION
#include "../xai.h"

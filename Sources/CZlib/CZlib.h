// The system zlib (zlib1g-dev on Debian; part of the SDK on macOS) for the HTML
// injector's gzip/deflate re-encoding. zlib's init functions are macros, which Swift
// cannot call: these inline wrappers stand in for them.
#ifndef GATEHOUSE_CZLIB_H
#define GATEHOUSE_CZLIB_H

#include <zlib.h>

static inline int CZlib_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}

static inline int CZlib_deflateInit2(z_streamp strm, int level, int method, int windowBits, int memLevel, int strategy) {
    return deflateInit2(strm, level, method, windowBits, memLevel, strategy);
}

#endif

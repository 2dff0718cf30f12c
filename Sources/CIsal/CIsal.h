// Intel's ISA-L (libisal-dev on Debian, isa-l in Homebrew): its igzip deflate re-encodes
// injected pages. Its level-buffer sizes are macros built from other macros, which Swift
// does not import, and its stream's state is nested deep in a 80 KB struct: these inline
// helpers stand in for both.
#ifndef GATEHOUSE_CISAL_H
#define GATEHOUSE_CISAL_H

#include <isa-l/igzip_lib.h>

/// Level 1's working buffer: room for 16 K tokens per block (ISA-L's "small" size; the
/// default "large" one is 276 KB and compressed a 20 KB page to the same bytes).
static inline uint32_t CIsal_level1BufferSize(void) {
    return ISAL_DEF_LVL1_SMALL;
}

/// Whether the stream wrote its end (the final block and the gzip/zlib trailer).
static inline int CIsal_deflateEnded(const struct isal_zstream *stream) {
    return stream->internal_state.state == ZSTATE_END;
}

#endif

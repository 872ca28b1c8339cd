/* stand-in: see kshim.h */
#include "../kshim.h"
#include <linux/hash.h> /* the kernel's own, copied by gen.sh */

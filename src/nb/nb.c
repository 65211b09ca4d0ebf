/* nb.c — placeholder */
#include "nb/nb.h"

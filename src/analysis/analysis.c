/* analysis.c — placeholder */
#include "analysis/analysis.h"

// (types only; kept as a translation unit so the header is compiled alone)
#include "executor/validate/program_types.h"

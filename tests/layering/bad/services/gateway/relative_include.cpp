// Not even by a relative path.
#include "../authority/grants.hpp"

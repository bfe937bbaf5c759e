// A service may not include another.
#include "authority/authority_app.hpp"

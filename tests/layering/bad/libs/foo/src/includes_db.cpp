// libs/ may not include the product's schema.
#include "cantdo/db/migrations.hpp"

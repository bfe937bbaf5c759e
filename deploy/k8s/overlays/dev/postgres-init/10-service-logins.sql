CREATE ROLE cantdo_gateway LOGIN PASSWORD 'cantdo-dev-only';
CREATE ROLE cantdo_authority LOGIN PASSWORD 'cantdo-dev-only';
CREATE ROLE cantdo_worker LOGIN PASSWORD 'cantdo-dev-only';
CREATE ROLE cantdo_bridge LOGIN PASSWORD 'cantdo-dev-only';

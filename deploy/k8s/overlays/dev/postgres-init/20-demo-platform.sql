CREATE DATABASE cantdo_demo;
CREATE ROLE cantdo_demo_worker NOLOGIN;
CREATE ROLE cantdo_demo_worker_dev LOGIN PASSWORD 'cantdo-dev-only' IN ROLE cantdo_demo_worker;

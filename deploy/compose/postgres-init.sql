-- Run once by the postgres image on an empty volume (as POSTGRES_USER svrr, a superuser there).
-- The svrr database itself comes from POSTGRES_DB; tests use their own database.
CREATE DATABASE svrr_test OWNER svrr;

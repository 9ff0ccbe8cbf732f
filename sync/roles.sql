-- Least-privilege group roles for the liftguard database. Idempotent: running it again brings
-- the grants back to exactly this list. Apply after `liftguard db migrate` (and again after a
-- migration that adds tables); scripts/create-db-roles runs it and makes the LOGIN roles that
-- belong to these groups. No passwords here: login roles get theirs from the script.
--
-- liftguard_writer: the sensor boxes' direct sink and the MQTT ingester. Upserts its rows
--   (INSERT ... ON CONFLICT DO UPDATE needs SELECT as well as INSERT and UPDATE), appends dead
--   letters, reads the athlete/trainer roster and the schema version. No DELETE, no TRUNCATE,
--   no DDL.
-- liftguard_reader: coach dashboards and reports. SELECT only, dead letters excluded.
-- liftguard_webapp: the coach web app (coach/; its login is liftguard_web). Reads the data
--   tables the boxes write (and the dead letters, for the admin dashboard); writes only the
--   account tables: users (sign-up, roles), credentials, invitations, trainer_athletes,
--   login_attempts. DELETE only where the app removes rows (assignments, expired login
--   attempts). No DDL.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'liftguard_writer') THEN
        CREATE ROLE liftguard_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'liftguard_reader') THEN
        CREATE ROLE liftguard_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'liftguard_webapp') THEN
        CREATE ROLE liftguard_webapp NOLOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO liftguard_writer, liftguard_reader, '
                   'liftguard_webapp', current_database());
END $$;

-- Nobody but the schema owner creates objects (already the default from PostgreSQL 15 on).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO liftguard_writer, liftguard_reader, liftguard_webapp;

REVOKE ALL ON ALL TABLES IN SCHEMA public
    FROM liftguard_writer, liftguard_reader, liftguard_webapp;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public
    FROM liftguard_writer, liftguard_reader, liftguard_webapp;

GRANT SELECT, INSERT, UPDATE
    ON devices, model_versions, sessions, sensor_data, performance_metrics, feedback, rep_metrics
    TO liftguard_writer;
GRANT INSERT ON dead_letters TO liftguard_writer;
GRANT SELECT ON users, schema_version TO liftguard_writer;

GRANT SELECT
    ON users, sessions, sensor_data, performance_metrics, feedback, rep_metrics, devices,
       model_versions, schema_version
    TO liftguard_reader;

GRANT SELECT
    ON sessions, sensor_data, performance_metrics, feedback, rep_metrics, devices,
       model_versions, dead_letters, schema_version
    TO liftguard_webapp;
GRANT SELECT, INSERT, UPDATE ON users, credentials, invitations TO liftguard_webapp;
GRANT SELECT, INSERT, DELETE ON trainer_athletes, login_attempts TO liftguard_webapp;
GRANT USAGE ON SEQUENCE login_attempts_id_seq TO liftguard_webapp;

-- Session commands, coach labels and athlete profiles (0006, docs/session-commands.md): the web app
-- issues commands and labels; boxes (direct mode) read their commands and settle them, read
-- the labels of their sessions and report the profiles they built; the ack recorder (an
-- ingester login) settles commands acknowledged over MQTT.
GRANT SELECT, UPDATE ON session_commands TO liftguard_writer;
GRANT SELECT ON rep_labels TO liftguard_writer;
GRANT SELECT, INSERT, UPDATE ON athlete_profiles TO liftguard_writer;
GRANT SELECT, INSERT, UPDATE ON session_commands TO liftguard_webapp;
GRANT SELECT, INSERT, UPDATE, DELETE ON rep_labels TO liftguard_webapp;
GRANT SELECT ON athlete_profiles TO liftguard_webapp;
GRANT SELECT ON session_commands, rep_labels, athlete_profiles TO liftguard_reader;

-- Reps synced live (0009): written by boxes and ingesters, read by the web app and readers.
GRANT SELECT, INSERT, UPDATE ON live_reps TO liftguard_writer;
GRANT SELECT ON live_reps TO liftguard_webapp, liftguard_reader;

-- Display series (0010): written by boxes and ingesters; the web app reads them and writes the
-- ones it computes once for sessions synced before boxes built them.
GRANT SELECT, INSERT, UPDATE ON session_series TO liftguard_writer;
GRANT SELECT, INSERT, UPDATE ON session_series TO liftguard_webapp;
GRANT SELECT ON session_series TO liftguard_reader;

-- Raw-data retention (0012): written only by `liftguard db prune-raw` (the schema owner's
-- login); the web app and readers see which sessions lost their raw chunks.
GRANT SELECT ON raw_data_pruned TO liftguard_webapp, liftguard_reader;

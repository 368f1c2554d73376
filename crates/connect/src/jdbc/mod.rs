//! The JDBC connectors (Confluent's class names and settings) on SQLite,
//! PostgreSQL and MySQL/MariaDB.

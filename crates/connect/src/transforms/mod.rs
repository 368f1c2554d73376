//! Single message transforms and their predicates (`transforms.*`,
//! `predicates.*`), as Kafka Connect configures them.

-- Mails sent per caller (JWT iss and sub) and UTC day (YYYY-MM-DD), counted exactly across replicas.
CREATE TABLE mail_budget (
    caller_iss TEXT    NOT NULL,
    caller_sub TEXT    NOT NULL,
    day        TEXT    NOT NULL,
    used       INTEGER NOT NULL,
    PRIMARY KEY (caller_iss, caller_sub, day)
);
CREATE INDEX mail_budget_day ON mail_budget (day);

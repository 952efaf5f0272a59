-- Customer search (C2). PostgreSQL gets trigram indexes in its 0009; SQLite, meant for one
-- small business on one machine, keeps scanning the business's rows in created order
-- (customers_business_created), which stays in single-digit milliseconds for thousands of
-- customers. Nothing changes here; the number is kept in step with PostgreSQL's.
SELECT 1;

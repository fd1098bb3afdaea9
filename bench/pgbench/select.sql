-- One-row SELECT by primary key (text), among 100,000 rows.
\set k random(1, 100000)
select id, payload from pgb_select where id = md5(:k::text);

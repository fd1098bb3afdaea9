-- One-row INSERT, the shape of an issued token: a random text key and ~300 bytes.
insert into pgb_insert (id, client_id, payload) values (gen_random_uuid()::text, 'bench', repeat('x', 300));

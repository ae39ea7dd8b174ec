-- A trigger function that names tables runs with the search_path of whoever fires it; pinned to the
-- schema it was created in, it finds its tables from any session (and cannot be pointed elsewhere).
ALTER FUNCTION identity_links_no_chains() SET search_path FROM CURRENT;

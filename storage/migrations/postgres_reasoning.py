"""PostgreSQL migration ``005_reasoning_tokens``: the reasoning tokens of a reply.

The writing functions gain the column as new overloads with one more argument at the end,
as ``002_cached_input_tokens`` did, so replicas still on the previous release keep writing
during a rolling upgrade. Each new overload calls the previous one and then sets the one
column on the row it wrote: same transaction, same thread lock (held until commit), and the
running-total logic stays in one place.
"""

from __future__ import annotations

REASONING_TOKENS = """
-- of a reply's output_tokens, those a reasoning model spent thinking; NULL where unknown
-- (replies stored before this migration, rows with no usage)
ALTER TABLE messages ADD COLUMN reasoning_tokens integer;

CREATE FUNCTION threadbot_add_message(
    p_thread bigint, p_epoch integer, p_role text, p_author_id text,
    p_author_name text, p_content text, p_tokens integer, p_platform_msg_id text,
    p_response_id text, p_model text, p_input_tokens integer, p_output_tokens integer,
    p_cached_input_tokens integer, p_ending text, p_awaits_answer smallint,
    p_created_at timestamptz, p_reasoning_tokens integer
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    new_id := threadbot_add_message(p_thread, p_epoch, p_role, p_author_id, p_author_name,
        p_content, p_tokens, p_platform_msg_id, p_response_id, p_model, p_input_tokens,
        p_output_tokens, p_cached_input_tokens, p_ending, p_awaits_answer, p_created_at);
    IF new_id IS NOT NULL AND p_reasoning_tokens IS NOT NULL THEN
        UPDATE messages SET reasoning_tokens = p_reasoning_tokens WHERE id = new_id;
    END IF;
    RETURN new_id;
END $$;

CREATE FUNCTION threadbot_add_to(
    p_platform text, p_scope text, p_channel text, p_key text, p_strategy text,
    p_role text, p_author_id text, p_author_name text, p_content text,
    p_tokens integer, p_platform_msg_id text, p_response_id text, p_model text,
    p_input_tokens integer, p_output_tokens integer, p_cached_input_tokens integer,
    p_ending text, p_awaits_answer smallint, p_created_at timestamptz,
    p_reasoning_tokens integer
) RETURNS TABLE (o_id bigint, o_strategy text, o_epoch integer, o_anchor text,
                 o_model text, o_row bigint) LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM threadbot_add_to(p_platform, p_scope, p_channel, p_key, p_strategy,
        p_role, p_author_id, p_author_name, p_content, p_tokens, p_platform_msg_id,
        p_response_id, p_model, p_input_tokens, p_output_tokens, p_cached_input_tokens,
        p_ending, p_awaits_answer, p_created_at);
    IF r.o_row IS NOT NULL AND p_reasoning_tokens IS NOT NULL THEN
        UPDATE messages SET reasoning_tokens = p_reasoning_tokens WHERE id = r.o_row;
    END IF;
    RETURN QUERY SELECT r.o_id, r.o_strategy, r.o_epoch, r.o_anchor, r.o_model, r.o_row;
END $$;

CREATE FUNCTION threadbot_finish_reply(
    p_thread bigint, p_epoch integer, p_row bigint, p_content text, p_tokens integer,
    p_response_id text, p_model text, p_input_tokens integer, p_output_tokens integer,
    p_cached_input_tokens integer, p_ending text, p_created_at timestamptz,
    p_reasoning_tokens integer
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM threadbot_finish_reply(p_thread, p_epoch, p_row, p_content, p_tokens,
        p_response_id, p_model, p_input_tokens, p_output_tokens, p_cached_input_tokens,
        p_ending, p_created_at);
    UPDATE messages SET reasoning_tokens = p_reasoning_tokens WHERE id = p_row;
END $$;
"""

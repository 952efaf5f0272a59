-- One number, one business (C1, C4, W2). A business's WhatsApp number is no other business's
-- WhatsApp number and no other business's voice number (and a voice number, already unique
-- in business_numbers, is no other business's WhatsApp number). Inbound WhatsApp messages
-- are linked to a business by the number they were written to, so a shared number would let
-- one tenant receive another's messages and customers.

-- Existing conflicts. A voice number (unique and set by operators from the start) keeps its
-- business; another business's WhatsApp claim on it is dropped. Among businesses sharing a
-- WhatsApp number, the oldest keeps it. Every dropped claim is written to the audit log.
CREATE TEMPORARY TABLE dropped_whatsapp_claims ON COMMIT DROP AS
SELECT b.id, b.whatsapp_number FROM businesses b
WHERE b.whatsapp_number IS NOT NULL AND (
    EXISTS (SELECT 1 FROM business_numbers n
            WHERE n.number = b.whatsapp_number AND n.business_id <> b.id)
    OR EXISTS (SELECT 1 FROM businesses o
               WHERE o.whatsapp_number = b.whatsapp_number
               AND (o.created_at < b.created_at OR (o.created_at = b.created_at AND o.id < b.id))));

INSERT INTO audit_log (business_id, actor_user_id, entity, entity_id, action, changes, created_at)
SELECT id, NULL, 'business', id, 'update',
       json_build_object('whatsapp_number', json_build_array(whatsapp_number, NULL),
                         'reason', 'the number belongs to another business')::text,
       (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
FROM dropped_whatsapp_claims;

UPDATE businesses SET whatsapp_number = NULL
WHERE id IN (SELECT id FROM dropped_whatsapp_claims);

DROP INDEX IF EXISTS businesses_whatsapp_number;
CREATE UNIQUE INDEX businesses_whatsapp_number ON businesses(whatsapp_number)
    WHERE whatsapp_number IS NOT NULL;

-- The claim across the two tables, which no index can hold: checked on every write of a
-- WhatsApp number or a voice number. Concurrent claims of one number queue on an advisory
-- lock, so each check sees the other's commit. The error is a unique violation (23505),
-- as the API maps it to 409.
CREATE FUNCTION number_claim_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    claimed TEXT;
    claimant BIGINT;
BEGIN
    IF TG_TABLE_NAME = 'businesses' THEN
        claimed := NEW.whatsapp_number;
        claimant := NEW.id;
    ELSE
        claimed := NEW.number;
        claimant := NEW.business_id;
    END IF;
    IF claimed IS NULL THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('mokdan number claim ' || claimed));
    IF EXISTS (SELECT 1 FROM business_numbers WHERE number = claimed AND business_id <> claimant)
       OR EXISTS (SELECT 1 FROM businesses WHERE whatsapp_number = claimed AND id <> claimant)
    THEN
        RAISE EXCEPTION 'number % already belongs to another business', claimed
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER businesses_whatsapp_claim
    BEFORE INSERT OR UPDATE OF whatsapp_number ON businesses
    FOR EACH ROW WHEN (NEW.whatsapp_number IS NOT NULL)
    EXECUTE FUNCTION number_claim_guard();

CREATE TRIGGER business_numbers_claim
    BEFORE INSERT OR UPDATE ON business_numbers
    FOR EACH ROW EXECUTE FUNCTION number_claim_guard();

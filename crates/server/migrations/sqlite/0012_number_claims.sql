-- One number, one business (C1, C4, W2). A business's WhatsApp number is no other business's
-- WhatsApp number and no other business's voice number (and a voice number, already unique
-- in business_numbers, is no other business's WhatsApp number). Inbound WhatsApp messages
-- are linked to a business by the number they were written to, so a shared number would let
-- one tenant receive another's messages and customers.

-- Existing conflicts. A voice number (unique and set by operators from the start) keeps its
-- business; another business's WhatsApp claim on it is dropped. Among businesses sharing a
-- WhatsApp number, the oldest keeps it. Every dropped claim is written to the audit log.
CREATE TEMPORARY TABLE dropped_whatsapp_claims AS
SELECT b.id, b.whatsapp_number FROM businesses b
WHERE b.whatsapp_number IS NOT NULL AND (
    EXISTS (SELECT 1 FROM business_numbers n
            WHERE n.number = b.whatsapp_number AND n.business_id <> b.id)
    OR EXISTS (SELECT 1 FROM businesses o
               WHERE o.whatsapp_number = b.whatsapp_number
               AND (o.created_at < b.created_at OR (o.created_at = b.created_at AND o.id < b.id))));

INSERT INTO audit_log (business_id, actor_user_id, entity, entity_id, action, changes, created_at)
SELECT id, NULL, 'business', id, 'update',
       json_object('whatsapp_number', json_array(whatsapp_number, NULL),
                   'reason', 'the number belongs to another business'),
       CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
FROM dropped_whatsapp_claims;

UPDATE businesses SET whatsapp_number = NULL
WHERE id IN (SELECT id FROM dropped_whatsapp_claims);

DROP TABLE dropped_whatsapp_claims;

DROP INDEX IF EXISTS businesses_whatsapp_number;
CREATE UNIQUE INDEX businesses_whatsapp_number ON businesses(whatsapp_number)
    WHERE whatsapp_number IS NOT NULL;

-- The claim across the two tables, which no index can hold: checked on every write of a
-- WhatsApp number or a voice number (SQLite has one writer at a time, so no race). The
-- message starts as SQLite's own unique violations do, as the API maps those to 409.
CREATE TRIGGER businesses_whatsapp_claim_insert BEFORE INSERT ON businesses
WHEN NEW.whatsapp_number IS NOT NULL AND EXISTS (
    SELECT 1 FROM business_numbers
    WHERE number = NEW.whatsapp_number AND business_id IS NOT NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'UNIQUE constraint failed: the number belongs to another business');
END;

CREATE TRIGGER businesses_whatsapp_claim_update BEFORE UPDATE OF whatsapp_number ON businesses
WHEN NEW.whatsapp_number IS NOT NULL AND EXISTS (
    SELECT 1 FROM business_numbers
    WHERE number = NEW.whatsapp_number AND business_id IS NOT NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'UNIQUE constraint failed: the number belongs to another business');
END;

CREATE TRIGGER business_numbers_claim_insert BEFORE INSERT ON business_numbers
WHEN EXISTS (
    SELECT 1 FROM businesses WHERE whatsapp_number = NEW.number AND id IS NOT NEW.business_id)
BEGIN
    SELECT RAISE(ABORT, 'UNIQUE constraint failed: the number belongs to another business');
END;

CREATE TRIGGER business_numbers_claim_update BEFORE UPDATE ON business_numbers
WHEN EXISTS (
    SELECT 1 FROM businesses WHERE whatsapp_number = NEW.number AND id IS NOT NEW.business_id)
BEGIN
    SELECT RAISE(ABORT, 'UNIQUE constraint failed: the number belongs to another business');
END;

-- Each business sends WhatsApp through Meta from its own number (C4, W3): Meta's phone
-- number id of that number. `META_PHONE_NUMBER_ID` stays the fallback for a business with
-- none. One id, one business, as with the numbers themselves (migration 0012).
ALTER TABLE businesses ADD COLUMN meta_phone_number_id TEXT;
CREATE UNIQUE INDEX businesses_meta_phone_number_id ON businesses(meta_phone_number_id)
    WHERE meta_phone_number_id IS NOT NULL;

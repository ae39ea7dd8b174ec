-- What a song shot's card shows before anything is paid for, and what later shots drew on.
-- How many beats of the decoded audio fall inside the shot (beside its time range on the card).
ALTER TABLE scenes ADD COLUMN beat_count INTEGER CHECK (beat_count >= 0);
-- The shot's end anchor frame, drawn with its start frame before the 🟢 (NULL for brand scenes).
ALTER TABLE scene_versions ADD COLUMN end_frame_key TEXT;
-- The earlier versions (other shots' approved images) this version's image was drawn from, for
-- FLUX.2 multi-reference continuity: what an edit of those shots would affect.
ALTER TABLE scene_versions ADD COLUMN reference_version_ids UUID[] NOT NULL DEFAULT '{}';
-- The project's reference sheet (a blob key) when the image was drawn with it.
ALTER TABLE scene_versions ADD COLUMN reference_sheet_key TEXT;
-- The readable prefix of the prompt it was made from, e.g. S03_V2_FLUX2.
ALTER TABLE scene_versions ADD COLUMN prompt_tag TEXT;
CREATE INDEX idx_scene_versions_references ON scene_versions USING GIN (reference_version_ids);

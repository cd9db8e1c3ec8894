-- A campaign's targets keyed by (campaign_id, id), in place of a key on id and a separate
-- (campaign_id, state) index: one index fewer to fill for every target of a new campaign
-- (a million-target plan spent about as long filling each index as writing its rows), and
-- every statement that touches a target already knows its campaign. Targets being called
-- get a small index of their own: the dialer asks whether a campaign still has any.

ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_target_id_fkey;
ALTER TABLE campaign_targets DROP CONSTRAINT campaign_targets_pkey;
ALTER TABLE campaign_targets ADD PRIMARY KEY (campaign_id, id);
DROP INDEX campaign_targets_campaign_idx;
CREATE INDEX campaign_targets_calling_idx ON campaign_targets (campaign_id)
    WHERE state = 'calling';
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_target_fkey
    FOREIGN KEY (campaign_id, target_id) REFERENCES campaign_targets (campaign_id, id)
    ON DELETE CASCADE;

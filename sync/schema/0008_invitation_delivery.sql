-- 0008 invitations: how the link reached the invitee. 'mailed': it went only to the invited
-- address (the web app sent it over SMTP and showed it to nobody), so using it proves control
-- of that address. 'shown': it was shown to the inviter. Only a mailed link, or one an admin
-- made, may give a password to an existing account that has none (docs/web.md, "Claiming an
-- existing account"). Invitations made before this migration count as shown.
ALTER TABLE invitations ADD COLUMN delivery VARCHAR(10) NOT NULL DEFAULT 'shown'
    CHECK (delivery IN ('shown', 'mailed'));

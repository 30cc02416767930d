package model

// AccountID is the one account every resource belongs to; it appears in
// ARNs and queue URLs (http://HOST/000000000000/NAME).
const AccountID = "000000000000"

// DefaultRegion is the region in ARNs when none is configured.
const DefaultRegion = "us-east-1"

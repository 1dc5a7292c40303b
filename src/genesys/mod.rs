//! The Genesys Cloud Platform API v2 client: only the calls offboarding needs.

"""A local fake Salesforce org + Pardot business unit over HTTPS on 127.0.0.1, for tests and
`make demo-org`. Not used by the engine."""

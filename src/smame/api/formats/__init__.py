"""Output forms of the data-provision API: IEC 61968-9 shaped JSON, Green Button (NAESB
ESPI) Atom XML, and bulk Parquet/CSV (SPEC S7)."""

"""What every configurable setting means, as shown in the Dagster launchpad and resource pages.

Keyed by ``Model.field`` where a field name means different things in different engine models
(``rate``, ``apply_rate``, ``minimum_age``), else by the field name alone. The allowed range is
appended from the engine's own constraints, so it is not repeated here. Plain text with
markdown code spans: the UI renders markdown.
"""

from __future__ import annotations

FIELD_DESCRIPTIONS: dict[str, str] = {
    # ranges
    "IntRange.low": "Smallest value, drawn uniformly up to `high` (inclusive).",
    "IntRange.high": "Largest value (inclusive); at least `low`.",
    "FloatRange.low": "Lower end of the uniform range.",
    "FloatRange.high": "Upper end of the uniform range; at least `low`.",
    # funnel
    "visitor_offset_seconds": "Seconds between consecutive visitors of a batch.",
    "session_mean_seconds": "Mean session duration (normal distribution), in seconds.",
    "session_sd_seconds": "Standard deviation of the session duration, in seconds.",
    "session_min_seconds": "Shortest session: durations below it are raised to it.",
    "campaign_number": "Number drawn into each visitor's campaign id.",
    "FunnelParams.apply_rate": "Share of visitors who submit an application.",
    "applicant_age": "Age of applicants, in years.",
    "annual_income": "Annual income of applicants.",
    "application_lag_minutes": "Minutes from the visit to the application.",
    "FunnelParams.minimum_age": "Applicants younger than this are rejected as under age.",
    "approve_rate": "Share of applications approved.",
    "limit_factor": "Approved limit as this factor times a tenth of the annual income.",
    "interest_rate": "Interest rate of an account, in percent.",
    "account_lag_hours": "Hours from the approved application to the account's opening.",
    "transact_rate": "Share of accounts that transact.",
    "transactions_per_account": "Transactions of a transacting account.",
    "amount": "Amount of a transaction.",
    "transaction_lag_days": "Days from the account's opening to a transaction.",
    "transaction_lag_minutes": "Minutes added to the days of the transaction lag.",
    # anomalies
    "null_burst": "`null_burst`: campaign ids go missing.",
    "age_error": "`age_error`: applicants get an under-age age.",
    "traffic_spike": "`traffic_spike`: more visitors, most of them bots with sub-second sessions.",
    "fraud_spike": "`fraud_spike`: transactions close to the account's approved limit.",
    "limit_spike": "`limit_spike`: requested limits far above the usual tenth of income.",
    "stale_data": "`stale_data`: every event of the batch happened hours before it landed.",
    "conversion_drop": "`conversion_drop`: far fewer visitors apply.",
    "schema_drift": "`schema_drift`: one table's files of the batch are written with another "
    "schema.",
    "duplicate_records": "`duplicate_records`: some visitors and their downstream rows are sent "
    "twice.",
    "orphan_records": "`orphan_records`: some applications' visitor events never land.",
    "timezone_shift": "`timezone_shift`: every event time of the batch is shifted by some hours.",
    "distribution_shift": "`distribution_shift`: the device mix and incomes drift, every rule "
    "still holding.",
    "missing_batch": "`missing_batch`: the scheduled batch never lands (no parameters).",
    "kind": "How the table drifts: `drop_column`, `rename_column`, `add_column` or "
    "`type_change` (floats and integers become formatted strings, timestamps epoch "
    "microseconds as int64).",
    "SchemaDriftParams.table": "The landing table whose files drift.",
    "column": "The column dropped, renamed or retyped, or the name of the column added; "
    "never a key, lineage column or the application status.",
    "DuplicateRecordsParams.share": "Share of the batch's visitors sent twice, with their "
    "applications, accounts and transactions.",
    "next_batch_share": "Share of the duplicated visitors whose copies are replayed in the "
    "next batch instead of the same one.",
    "OrphanRecordsParams.share": "Share of the batch's applications whose visitor events "
    "never land.",
    "hours": "Hours added to every event time of the batch (negative: earlier).",
    "mobile_share": "Share of the batch's visitors on `mobile` (normally a third).",
    "income_multiplier": "Every annual income of the batch is multiplied by this (requested "
    "and approved limits follow).",
    "null_rate": "Share of the batch's visitors whose campaign id is null.",
    "AgeErrorParams.rate": "Share of the batch's applications given an under-age age.",
    "age": "The under-age ages given.",
    "visitor_multiplier": "The batch's planned visitors are multiplied by this.",
    "bot_rate": "Share of the spiked batch's visitors that are bots.",
    "bot_session_seconds": "Session duration of a bot, in seconds.",
    "FraudSpikeParams.rate": "Share of the batch's transactions close to the approved limit.",
    "limit_share": "A fraudulent amount as a share of the account's approved limit.",
    "LimitSpikeParams.rate": "Share of the batch's applications with a spiked requested limit.",
    "income_share": "A spiked requested limit as a share of the annual income.",
    "delay_hours": "Hours by which every event of the batch predates its landing.",
    "ConversionDropParams.apply_rate": "Share of the batch's visitors who apply.",
    # gatekeeper rules
    "schema_check": "Columns and types as in the baseline.",
    "completeness": "Nulls in columns that were never null in history.",
    "domain": "Values outside a column's historical domain.",
    "format": "Values not in the shape their column had in history.",
    "uniqueness": "Duplicate primary keys.",
    "range": "Numeric values outside the range history showed for their column.",
    "min_age": "Applicants younger than `minimum_age` and than history's youngest.",
    "status_domain": "Application statuses outside the valid domain.",
    "limit_share_of_income": "Requested limits far above their usual share of income.",
    "accounts_approved": "Accounts whose application was not approved.",
    "ingestion_lag": "Records landing much later after their event than in history.",
    "volume": "Visitors per batch far from the historical batch size.",
    "short_sessions": "Sessions shorter than the baseline's `short_session_seconds`.",
    "conversion_rate": "Share of visitors who apply, against history.",
    "approval_rate": "Share of applications approved, against history.",
    "transaction_rate": "Share of accounts that transact, against history.",
    "amount_to_limit": "Transaction amounts close to the approved limit.",
    "replays": "Records whose primary key an earlier batch already landed (re-sent rows).",
    "references": "Records whose parent (visitor, application, account) is not in their batch.",
    "event_time": "Event times later against ingestion than in history (a clock shift).",
    "cadence": "Batches missing from the day's arrival grid.",
    "distribution": "Input columns whose binned distribution drifted from history's.",
    "min_shift_seconds": "Smallest clock shift that flags, in seconds.",
    "min_records": "Fewest records in a batch for its distribution to be tested.",
    "tolerance_seconds": "How far an arrival may sit from its slot, in seconds.",
    "max_batches_per_day": "Finest arrival grid considered, in batches per day.",
    "enabled": "Run this detector.",
    "z": "Margin in standard errors: a larger value flags less often.",
    "min_count": "Records needed to flag when history never had any.",
    "upper_quantile": "Historical quantile the fence starts from.",
    "fence_k": "Robust spreads above the quantile where the fence lies.",
    "spread_floor": "Smallest spread, as a share of the median.",
    "tail": "Share of history in each outer tail whose width sets the range's margin.",
    "tail_records": "Fewest historical values in each outer tail (a short history widens it).",
    "RangeRule.k": "Tail widths beyond history's extremes where the range ends.",
    "MinAgeRule.k": "Tail widths below history's youngest where the age range ends.",
    "MinAgeRule.minimum_age": "Youngest valid applicant age, in years.",
    "valid_statuses": "Valid application statuses; null takes those seen in history.",
    "tolerance": "Margin as a share of the median batch size.",
    "tables": "Tables whose ingestion lag is checked.",
    # gatekeeper baseline
    "quantile_probs": "Quantiles the baseline records of every numeric column.",
    "short_session_seconds": "Sessions shorter than this count as short, in seconds.",
}

-- Cross-system reconciliation facts: one row per detection rule × compared
-- record, labelled matched / quantity_differs / batch_differs / late /
-- missing_in_<system>. For now the movement flows only
-- (int_reconciliation__flows); stock comparisons join with the same columns.
select * from {{ ref('int_reconciliation__flows') }}

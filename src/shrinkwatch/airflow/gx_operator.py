"""The GX provider's checkpoint operator, made to say what failed and to keep
every result.

`GXValidateCheckpointOperator` raises `GXValidationFailed` with statistics
only. This subclass runs the checkpoint the same way (file context, the
provider's exception type, the result description in XCom), and in addition
writes every expectation's result to `ops.dq_results` and, when a blocking
checkpoint fails, raises with the table, expectation, column and sample
values of each failure. A non-blocking checkpoint (warnings) logs them. The
Data Docs are rendered once per run (`context.update_data_docs`), not by a
checkpoint action per validation definition, and results older than
`SHRINKWATCH_GX_RESULTS_KEEP_DAYS` leave GX's store then.

Imported by the transform DAG inside its factory: the provider module pulls
in Airflow models, which DAG parsing of the other files does not need.
"""

from __future__ import annotations

import logging

from great_expectations_provider.common.errors import GXValidationFailed
from great_expectations_provider.operators.validate_checkpoint import GXValidateCheckpointOperator

from shrinkwatch.airflow import tasks
from shrinkwatch.quality import results
from shrinkwatch.quality.context import update_data_docs
from shrinkwatch.settings import gx_results_keep_days

log = logging.getLogger(__name__)


class RecordedCheckpointOperator(GXValidateCheckpointOperator):
    def __init__(self, *, checkpoint_name: str, blocking: bool = True, configure_file_data_context=None,
                 **kwargs) -> None:
        super().__init__(
            configure_checkpoint=lambda context: context.checkpoints.get(checkpoint_name),
            context_type="file",
            # the committed context, on the warehouse of the Airflow connection
            configure_file_data_context=configure_file_data_context or tasks.gx_file_context,
            **kwargs,
        )
        self.checkpoint_name = checkpoint_name
        self.blocking = blocking

    def execute(self, context) -> None:
        gx_context = self.configure_file_data_context()
        checkpoint = self.configure_checkpoint(gx_context)
        result = checkpoint.run(batch_parameters=self.batch_parameters)
        keep_days = gx_results_keep_days()
        removed = update_data_docs(gx_context, result, keep_days)
        if removed:
            log.info("removed %d stored validation results older than %s days", removed, keep_days)
        conninfo = tasks.warehouse_target().conninfo()
        recorded = results.record_results(self.checkpoint_name, result, conninfo)
        log.info("checkpoint %s: success=%s, %d results in %s", self.checkpoint_name, result.success, recorded,
                 results.RESULTS_TABLE)
        description = result.describe_dict()
        context["ti"].xcom_push(key="return_value", value=description)
        if not result.success:
            message = results.failure_message(self.checkpoint_name, result, conninfo)
            if self.blocking:
                raise GXValidationFailed(description, self.task_id, message=message)
            log.warning("%s", message)

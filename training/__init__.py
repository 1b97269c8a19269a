"""lcad training: data readers, the `lcad` CLI and MLflow tracking."""

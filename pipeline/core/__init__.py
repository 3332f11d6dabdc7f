"""The core every track builds on: config primitives and errors, artifact I/O, the GPT model,
an objective-agnostic trainer, jobs and the local scheduler, NLL and mem_U scoring, probes
for any causal LM, and report helpers. It imports no track."""

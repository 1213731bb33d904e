"""The instructor's commands: build the course, stage samples, print scores, tabulate the
catalogue of mistakes, and the feedback step that hides hidden tests."""

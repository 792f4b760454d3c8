"""Field-network models under the head-end: 920 MHz multi-hop mesh, 1:N cellular and PLC
(SPEC S1, S3, S11, S16). ``docs/fan.md`` describes the models and cites their figures."""

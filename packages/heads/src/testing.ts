// Plain-TS float64 references of every head kind's logits and proposals, from the equations (for
// tests that check a GPU head or a training forward against an independent twin).
export {
  medusaLogitsCpu,
  hydraLogitsCpu,
  topkCpu,
  medusaProposeCpu,
  hydraProposeCpu,
  mlpSpeculatorLogitsCpu,
  mlpSpeculatorProposeCpu,
  eagleLogitsCpu,
  eagleProposeCpu,
  eagle3LogitsCpu,
} from './cpu-reference';

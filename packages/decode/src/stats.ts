// Per-generation statistics: steps, tokens per step (τ), acceptance by depth, time per phase.

export class DecodeStats {
  steps = 0;
  readonly acceptedPerStep: number[] = [];
  prefillMs = 0;
  baseMs = 0;
  headMs = 0;
  verifyMs = 0;
  commitMs = 0;
  /** acceptedAtDepth[d-1]: steps whose accepted path reached depth d. */
  private readonly acceptedAtDepth: number[];

  constructor(readonly treeDepth: number) {
    this.acceptedAtDepth = new Array<number>(treeDepth).fill(0);
  }

  record(pathLength: number): void {
    this.steps++;
    this.acceptedPerStep.push(pathLength);
    for (let d = 1; d < pathLength && d <= this.treeDepth; d++) this.acceptedAtDepth[d - 1]++;
  }

  get meanAcceptedLength(): number {
    if (this.steps === 0) return 0;
    let s = 0;
    for (const a of this.acceptedPerStep) s += a;
    return s / this.steps;
  }

  acceptanceByDepth(): number[] {
    return this.acceptedAtDepth.map((n) => (this.steps ? n / this.steps : 0));
  }
}

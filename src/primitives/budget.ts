/**
 * At most `capacity` taken at once, each taker asking for its own share: the rest wait their turn, first
 * come, first served (a small share does not pass a large one waiting). A share larger than the whole
 * is given once nothing else is taken.
 */
export class Budget {
  private taken = 0;
  private readonly waiting: Array<{ share: number; go: () => void }> = [];

  constructor(private readonly capacity: number) {}

  /** Resolves once `share` is the caller's, with what gives it back (once; again does nothing). */
  async take(share: number): Promise<() => void> {
    if (this.waiting.length === 0 && this.fits(share)) this.taken += share;
    else await new Promise<void>((go) => this.waiting.push({ share, go }));
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.taken -= share;
      while (this.waiting.length > 0 && this.fits(this.waiting[0]!.share)) {
        const next = this.waiting.shift()!;
        this.taken += next.share;
        next.go();
      }
    };
  }

  private fits(share: number): boolean {
    return this.taken === 0 || this.taken + share <= this.capacity;
  }
}

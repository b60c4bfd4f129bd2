// Where tuned trees are kept between runs: a small key → text interface, so the same cache logic
// runs over files in Node (store-node.ts), Web Storage in a browser, or memory in tests.

export interface TreeStore {
  /** The text stored under `key`, or null. */
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
  /** Where entries live, for messages ("~/.cache/hydra-ts/trees", "localStorage"). */
  readonly where: string;
}

/** A store in memory (tests; environments with no storage). */
export function memoryTreeStore(): TreeStore & { readonly entries: Map<string, string> } {
  const entries = new Map<string, string>();
  return {
    entries,
    where: 'memory',
    async get(key) {
      return entries.get(key) ?? null;
    },
    async set(key, value) {
      entries.set(key, value);
    },
  };
}

/** What webStorageTreeStore needs of window.localStorage. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** A store in Web Storage (localStorage), entries prefixed 'hydra-ts/trees/'. */
export function webStorageTreeStore(storage: WebStorageLike, where = 'localStorage'): TreeStore {
  const prefix = 'hydra-ts/trees/';
  return {
    where,
    async get(key) {
      return storage.getItem(prefix + key);
    },
    async set(key, value) {
      storage.setItem(prefix + key, value);
    },
  };
}

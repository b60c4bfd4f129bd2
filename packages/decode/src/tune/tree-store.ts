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

/** What cacheStorageTreeStore needs of a Cache Storage cache (await caches.open(name)). */
export interface ResponseCacheLike {
  match(url: string): Promise<Response | undefined>;
  put(url: string, response: Response): Promise<void>;
}

/**
 * A store in Cache Storage, for a Web Worker (which has no localStorage): each entry a response
 * under a synthetic URL. `cache` is a cache or a promise of one (caches.open(name)).
 */
export function cacheStorageTreeStore(cache: ResponseCacheLike | Promise<ResponseCacheLike>, where = 'Cache Storage'): TreeStore {
  const url = (key: string) => `https://hydra-ts.invalid/trees/${encodeURIComponent(key)}`;
  const opened = Promise.resolve(cache);
  opened.catch(() => undefined); // a cache that cannot be opened is handled where it is used
  return {
    where,
    // Storage that refuses (an opaque origin, a full quota) only means tuning again next time.
    async get(key) {
      try {
        const hit = await (await opened).match(url(key));
        return hit ? await hit.text() : null;
      } catch {
        return null;
      }
    },
    async set(key, value) {
      try {
        await (await opened).put(url(key), new Response(value, { headers: { 'content-type': 'application/json' } }));
      } catch {
        // kept in no store: the tree is tuned again on the next load
      }
    },
  };
}

// client-node informers for any `/apis/{group}/{version}/{plural}` resource. This is what
// makeInformer builds (a ListWatch over a Watch), with two additions the watchdog needs: watches ask
// for bookmarks, and every list, event and bookmark is reported as a sign of life.
import { CustomObjectsApi, ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { InformerFactory } from '../watcher/informers.ts';

class SignallingWatch extends Watch {
  private readonly onSignal: () => void;
  constructor(kc: KubeConfig, onSignal: () => void) {
    super(kc);
    this.onSignal = onSignal;
  }
  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true },
      (phase, obj, raw) => {
        this.onSignal();
        callback(phase, obj, raw);
      },
      done,
    );
  }
}

export function kubeInformerFactory(kc: KubeConfig): InformerFactory {
  const api = kc.makeApiClient(CustomObjectsApi);
  return ({ resource, labelSelector }, hooks) => {
    const { group, version, plural } = resource;
    const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const res = (await api.listClusterCustomObject({ group, version, plural, ...(labelSelector ? { labelSelector } : {}) })) as KubernetesListObject<KubernetesObject>;
      hooks.onList(res.items ?? []);
      hooks.onSignal();
      return res;
    };
    return new ListWatch(`/apis/${group}/${version}/${plural}`, new SignallingWatch(kc, hooks.onSignal), list, false, labelSelector);
  };
}

import { Btf, FieldLayout, StructLayout } from '../loader';

/**
 * The event layouts and enums of bpf/include/events.h, read back from the BPF
 * object's BTF: nothing about them is written down twice.
 */
export interface EventType {
  id: number;
  /** 'dma' for IT_EV_DMA (struct it_ev_dma). */
  kind: string;
  layout: StructLayout;
}

/** IT_PROBE_IOMMU_MAP -> 'iommu.map'. */
export function probeName(enumName: string): string {
  const rest = enumName.replace(/^IT_PROBE_/, '').toLowerCase();
  const i = rest.indexOf('_');
  return i < 0 ? rest : `${rest.slice(0, i)}.${rest.slice(i + 1)}`;
}

function enumOrThrow(btf: Btf, name: string): Map<string, number> {
  const values = btf.enumValues(name);
  if (!values) throw new Error(`the BPF object's BTF has no enum ${name}`);
  return values;
}

export class EventSchema {
  /** Event type id -> type. */
  readonly types = new Map<number, EventType>();
  /** Probe id -> logical probe name. */
  readonly probes = new Map<number, string>();
  readonly probeIds = new Map<string, number>();
  /** Counter name ('ringbuf_lost') -> index in it_counters. */
  readonly counters = new Map<string, number>();
  /** hdr.type bit of the records check mode also sums in the kernel (enum it_event_flag). */
  readonly summedFlag: number;
  readonly header: StructLayout;
  readonly histKey: StructLayout;

  constructor(btf: Btf) {
    for (const [name, id] of enumOrThrow(btf, 'it_probe')) {
      if (name === 'IT_PROBE_NONE' || name === 'IT_PROBE_MAX') continue;
      this.probes.set(id, probeName(name));
      this.probeIds.set(probeName(name), id);
    }
    for (const [name, id] of enumOrThrow(btf, 'it_event_type')) {
      if (name === 'IT_EV_NONE' || name === 'IT_EV_MAX') continue;
      const kind = name.replace(/^IT_EV_/, '').toLowerCase();
      const layout = btf.struct(`it_ev_${kind}`);
      if (!layout) throw new Error(`the BPF object's BTF has no struct it_ev_${kind} for ${name}`);
      this.types.set(id, { id, kind, layout });
    }
    for (const [name, id] of enumOrThrow(btf, 'it_counter')) {
      if (name !== 'IT_CNT_MAX') this.counters.set(name.replace(/^IT_CNT_/, '').toLowerCase(), id);
    }
    this.summedFlag = enumOrThrow(btf, 'it_event_flag').get('IT_EV_FLAG_SUMMED') ?? 0;
    this.header = this.struct(btf, 'it_event_hdr');
    this.histKey = this.struct(btf, 'it_hist_key');
  }

  private struct(btf: Btf, name: string): StructLayout {
    const s = btf.struct(name);
    if (!s) throw new Error(`the BPF object's BTF has no struct ${name}`);
    return s;
  }

  static fromFile(path: string): EventSchema {
    const btf = Btf.file(path);
    try {
      return new EventSchema(btf);
    } finally {
      btf.close();
    }
  }

  field(layout: StructLayout, name: string): FieldLayout {
    const f = layout.fields.find((x) => x.name === name);
    if (!f) throw new Error(`struct ${layout.name} has no field ${name}`);
    return f;
  }
}

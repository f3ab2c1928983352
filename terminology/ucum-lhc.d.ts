/** The parts of @lhncbc/ucum-lhc's API that terminology/ucum.ts uses (the package ships no types). */
declare module '@lhncbc/ucum-lhc' {
  interface UcumUtils {
    validateUnitString(
      unit: string,
      suggest?: boolean,
    ): { status: string; unit?: { code: string; name?: string }; msg?: string[] };
    convertUnitTo(from: string, value: number, to: string): { status: string; toVal: number | null; msg?: string[] };
    convertToBaseUnits(
      unit: string,
      value: number,
    ): { status: string; magnitude?: number; unitToExp?: Record<string, number>; fromUnitIsSpecial?: boolean };
  }
  const ucum: { UcumLhcUtils: { getInstance(): UcumUtils } };
  export default ucum;
}

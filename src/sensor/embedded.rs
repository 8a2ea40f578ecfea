// placeholder until the sensor branch lands
pub fn sensor_binary() -> &'static [u8] {
    &[]
}
